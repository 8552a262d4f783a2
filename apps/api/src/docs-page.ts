/**
 * A self-contained HTML reference of the OpenAPI document: no scripts or styles from
 * elsewhere, because the machines this runs on often reach nothing outside.
 */
export function renderDocsPage(document: unknown): string {
  // Inside a <script> element only "</" and U+2028/9 can break out of a JSON literal.
  const json = JSON.stringify(document)
    .replace(/<\//g, "<\\/")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>TaskWeaver API reference</title>
<style>
  :root { color-scheme: light dark; --muted: #6b7280; --line: #d1d5db; }
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 980px; padding: 1.5rem; }
  h1 { margin-bottom: 0.2rem; } .muted { color: var(--muted); }
  details.operation { border: 1px solid var(--line); border-radius: 6px; margin: 0.6rem 0; padding: 0.4rem 0.8rem; }
  summary { cursor: pointer; } code, pre { font: 13px/1.4 ui-monospace, monospace; }
  pre { overflow-x: auto; padding: 0.6rem; border-radius: 4px; background: rgba(127,127,127,0.12); }
  .method { display: inline-block; min-width: 4.2rem; font-weight: 700; text-transform: uppercase; }
  .get { color: #2563eb; } .post { color: #16a34a; } .delete { color: #dc2626; } .put, .patch { color: #d97706; }
  table { border-collapse: collapse; width: 100%; } td, th { border-bottom: 1px solid var(--line); padding: 0.25rem 0.4rem; text-align: left; vertical-align: top; }
</style>
</head>
<body>
<h1 id="title">TaskWeaver API</h1>
<p class="muted" id="subtitle"></p>
<p>Machine-readable document: <a href="openapi.json">openapi.json</a></p>
<div id="operations"></div>
<h2>Schemas</h2>
<div id="schemas"></div>
<script id="openapi-document" type="application/json">${json}</script>
<script>
(function () {
  var doc = JSON.parse(document.getElementById("openapi-document").textContent);
  function element(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (key) { node.setAttribute(key, attributes[key]); });
    (children || []).forEach(function (child) { node.append(child); });
    return node;
  }
  function pretty(value) { return element("pre", {}, [JSON.stringify(value, null, 2)]); }
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  document.getElementById("subtitle").textContent = doc.info.description || "";
  var operations = document.getElementById("operations");
  Object.keys(doc.paths || {}).forEach(function (path) {
    Object.keys(doc.paths[path]).forEach(function (method) {
      var operation = doc.paths[path][method];
      var summary = element("summary", {}, [
        element("span", { class: "method " + method }, [method]), element("code", {}, [path]), " \\u2014 " + (operation.summary || ""),
      ]);
      var body = [summary];
      if (operation.description) body.push(element("p", {}, [operation.description]));
      if (operation.parameters && operation.parameters.length) {
        var rows = operation.parameters.map(function (parameter) {
          return element("tr", {}, [element("td", {}, [element("code", {}, [parameter.name])]), element("td", {}, [parameter.in]),
            element("td", {}, [parameter.required ? "required" : "optional"]), element("td", {}, [parameter.description || ""])]);
        });
        body.push(element("h4", {}, ["Parameters"]), element("table", {}, rows));
      }
      if (operation.requestBody) body.push(element("h4", {}, ["Request body"]), pretty(operation.requestBody.content));
      body.push(element("h4", {}, ["Responses"]));
      Object.keys(operation.responses || {}).forEach(function (status) {
        var response = operation.responses[status];
        body.push(element("p", {}, [element("strong", {}, [status]), " " + (response.description || "")]));
        if (response.content) body.push(pretty(response.content));
      });
      operations.append(element("details", { class: "operation" }, body));
    });
  });
  var schemas = (doc.components && doc.components.schemas) || {};
  var schemaRoot = document.getElementById("schemas");
  Object.keys(schemas).forEach(function (name) {
    schemaRoot.append(element("details", { class: "operation", id: "schema-" + name }, [element("summary", {}, [element("code", {}, [name])]), pretty(schemas[name])]));
  });
})();
</script>
</body>
</html>
`;
}
