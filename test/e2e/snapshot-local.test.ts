// Kernel snapshots with the default runtime: local kernels, sandboxed with bubblewrap where it
// works (the snapshot moves through the working directory, the one folder the sandbox shares).
import { TEST_PYTHON } from "../src/index.js";
import { describeSnapshotScenarios } from "./snapshot-support.js";

describeSnapshotScenarios("local", {
  unavailableReason: () => undefined,
  config: () => ({ "execution_service.kernel_mode": "local", "execution_service.python": TEST_PYTHON }),
});
