// worker_threads entry for the wasm backend's pool.

import { parentPort, workerData } from "node:worker_threads";
import { workerLoop } from "../backend/wasm/worker.ts";
import type { WorkerInit } from "../backend/wasm/worker.ts";

workerLoop(workerData as WorkerInit, () => parentPort!.postMessage("ready"));
