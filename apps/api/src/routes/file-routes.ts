import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { createRoute } from "@hono/zod-openapi";
import { ApiError } from "../errors.js";
import { checkUploadName, contentTypeFor, saveUpload } from "../files.js";
import {
  FileListSchema,
  FileParamsSchema,
  SessionIdParamsSchema,
  UploadRequestSchema,
  UploadResultSchema,
} from "../schemas.js";
import {
  createRouter,
  errorResponses,
  secured,
  validationError,
  visibleSession,
  type RouteContext,
} from "./route-context.js";

export const UPLOAD_MEDIA_TYPE = "multipart/form-data";

/** Uploading into, listing and downloading from a session's working directory. */
export function createFileRoutes(context: RouteContext) {
  const { sessions } = context;
  const router = createRouter();

  // Multipart bodies are checked by hand (file objects, names before any write); the route is
  // registered for the document only.
  router.openAPIRegistry.registerPath(
    createRoute({
      method: "post",
      path: "/sessions/{id}/files",
      summary: "Upload files into the session's working directory",
      description:
        "Multipart form data with one or more fields named `file`. Names must be plain file names. " +
        "Another content type is answered 415 `unsupported_media_type`.",
      tags: ["files"],
      security: secured,
      request: {
        params: SessionIdParamsSchema,
        body: { required: true, content: { [UPLOAD_MEDIA_TYPE]: { schema: UploadRequestSchema } } },
      },
      responses: {
        201: { description: "Stored", content: { "application/json": { schema: UploadResultSchema } } },
        ...errorResponses(400, 401, 404, 413, 415, 422),
      },
    }),
  );
  router.post("/sessions/:id/files", async (c) => {
    const record = await visibleSession(context, c, c.req.param("id"));
    if (!(c.req.header("content-type") ?? "").toLowerCase().startsWith(UPLOAD_MEDIA_TYPE)) {
      throw new ApiError(
        415,
        "unsupported_media_type",
        `Upload files as ${UPLOAD_MEDIA_TYPE} with fields named \`file\` (Content-Type: ${UPLOAD_MEDIA_TYPE}).`,
      );
    }
    let form: Record<string, unknown>;
    try {
      form = await c.req.parseBody({ all: true });
    } catch (error) {
      if (ApiError.isInstance(error)) throw error;
      throw new ApiError(400, "invalid_multipart", "The multipart body could not be read.", { cause: error });
    }
    const files = uploadedFiles(form);
    // Every name is checked before anything is written, so a bad request stores nothing.
    const saved = [];
    for (const { name, file } of files) {
      saved.push(await saveUpload(record.workingDirectory, name, new Uint8Array(await file.arrayBuffer())));
    }
    return c.json({ files: saved }, 201);
  });

  router.openapi(
    createRoute({
      method: "get",
      path: "/sessions/{id}/files",
      summary: "List the files of the session's working directory (uploads and artifacts)",
      tags: ["files"],
      security: secured,
      request: { params: SessionIdParamsSchema },
      responses: {
        200: {
          description: "Files, recursively",
          content: { "application/json": { schema: FileListSchema } },
        },
        ...errorResponses(401, 404),
      },
    }),
    async (c) => {
      const record = await visibleSession(context, c, c.req.valid("param").id);
      return c.json({ files: await sessions.listFiles(record) }, 200);
    },
  );

  // Registered as a plain route so `{name}` may contain `/` (artifacts in sub-folders); the
  // OpenAPI document still describes it.
  router.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/sessions/{id}/files/{name}",
      summary: "Download a file of the working directory, artifacts included",
      tags: ["files"],
      security: secured,
      request: { params: FileParamsSchema },
      responses: {
        200: {
          description: "The file, with a Content-Type from its extension",
          content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } },
        },
        ...errorResponses(400, 401, 404),
      },
    }),
  );
  router.get("/sessions/:id/files/:name{.+}", async (c) => {
    const parsed = FileParamsSchema.safeParse({ id: c.req.param("id"), name: c.req.param("name") });
    if (!parsed.success) throw validationError(parsed.error, "param");
    const record = await visibleSession(context, c, parsed.data.id);
    const file = await sessions.findFile(record, parsed.data.name);
    const contentType = contentTypeFor(parsed.data.name);
    const headers: Record<string, string> = {
      "Content-Type": contentType,
      "Content-Length": String(file.size),
      "Content-Disposition": `inline; filename*=UTF-8''${encodeURIComponent(parsed.data.name.split("/").pop()!)}`,
      "X-Content-Type-Options": "nosniff",
    };
    // Files written by model-generated code must not run scripts in the API's origin.
    if (/html|svg|xml/.test(contentType)) headers["Content-Security-Policy"] = "sandbox";
    const body =
      "path" in file
        ? (Readable.toWeb(createReadStream(file.path)) as ReadableStream<Uint8Array<ArrayBuffer>>)
        : (file.data as Uint8Array<ArrayBuffer>);
    return c.body(body, 200, headers);
  });
  return router;
}

/** The `file` fields of an upload form, each a file with a plain name (422 otherwise). */
function uploadedFiles(form: Record<string, unknown>): { name: string; file: File }[] {
  const unknownFields = Object.keys(form).filter((key) => key !== "file");
  if (unknownFields.length > 0) {
    throw new ApiError(
      422,
      "validation_failed",
      `Unknown form field(s): ${unknownFields.join(", ")}; send files in fields named \`file\`.`,
      { details: unknownFields.map((field) => ({ field, message: "unknown field" })) },
    );
  }
  const values = ([] as unknown[]).concat(form.file ?? []);
  if (values.length === 0) {
    throw new ApiError(422, "validation_failed", "No file: send one or more fields named `file`.", {
      details: [{ field: "file", message: "required" }],
    });
  }
  return values.map((value, index) => {
    if (!(value instanceof File)) {
      throw new ApiError(
        422,
        "validation_failed",
        `file.${index}: expected a file, got a plain form value.`,
        {
          details: [{ field: `file.${index}`, message: "expected a file" }],
        },
      );
    }
    return { name: checkUploadName(value.name), file: value };
  });
}
