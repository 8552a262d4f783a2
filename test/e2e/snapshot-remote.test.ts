// Kernel snapshots with the remote runtime (a real `jupyter server` on 127.0.0.1): the snapshot
// moves through the server's file API (its kernels' file system need not be this host's) and
// lives in the session's folder on this host. Across a restart of the API the kernel itself is
// normally kept on the server and attached to again; the restart scenarios delete it first, as
// a restarted Jupyter server would, so that the snapshot has to bring the state back.
import { afterAll } from "vitest";
import { jupyterServerUnavailableReason, startJupyterServer } from "../src/jupyter-server.js";
import { describeSnapshotScenarios } from "./snapshot-support.js";

const unavailableReason = jupyterServerUnavailableReason();
const jupyter = unavailableReason === undefined ? await startJupyterServer() : undefined;
afterAll(async () => {
  await jupyter?.close();
}, 30_000);

async function deleteServerKernels(): Promise<void> {
  const headers = { Authorization: `token ${jupyter!.token}` };
  const kernels = (await (await fetch(`${jupyter!.url}api/kernels`, { headers })).json()) as { id: string }[];
  for (const kernel of kernels)
    await fetch(`${jupyter!.url}api/kernels/${kernel.id}`, { method: "DELETE", headers });
}

describeSnapshotScenarios("remote", {
  unavailableReason: () => unavailableReason,
  config: () => ({
    "execution_service.kernel_mode": "remote",
    "execution_service.remote.url": jupyter!.url,
    "execution_service.remote.token": jupyter!.token,
  }),
  betweenRestarts: deleteServerKernels,
  keepsKernels: true,
});
