// Running a prediction: submit, follow the task's progress, fetch the results. A batch the API
// refuses because of one named file is sent again, once, without that file and without every
// other file the same refusal applies to (a file at least as large as one refused for its size).

import * as api from "./api.js";
import { fileNamedIn } from "./files.js";

const POLL_MS = 400;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Submit one batch and wait for its results (the list, in upload order), or null if cancelled. */
export async function runTask(modelId, batch, onProgress, isCancelled) {
  const { task_uuid: taskId } = await api.submit(modelId, batch.map((item) => item.file));
  onProgress(0, batch.length);
  for (;;) {
    if (isCancelled()) return null;
    const task = await api.task(taskId);
    onProgress(task.progress?.done ?? 0, task.progress?.total ?? batch.length);
    if (task.status === "failed") throw new Error(`The analysis failed on the server: ${task.error || "no reason given"}`);
    if (task.status === "done") {
      const { status, body } = await api.results(taskId, 0);
      if (status === 200) return body;
    }
    await sleep(POLL_MS);
  }
}

/** Pair the API's list with the batch: by position, checked by name. */
export function pairResults(batch, list) {
  const byName = new Map(list.map((r) => [r.name, r]));
  return batch.map((item, i) => (list[i]?.name === item.name ? list[i] : byName.get(item.name) ?? null));
}

/** The refused file, and every file of the batch at least as large when it was refused for size. */
export function alsoRefused(culprit, batch, error) {
  const forSize = error.status === 413 && /file (larger than|of .*more than) the limit/.test(error.detail ?? "");
  if (!forSize) return [culprit];
  return batch.filter((item) => item === culprit || item.file.size >= culprit.file.size);
}

function sameRefusal(item, culprit) {
  return `Too large: not sent; it is at least as large as ${culprit.name}, which was refused for its size.`;
}

/**
 * Predict `items` with `modelId`. hooks: progress(done, total), result(item, r),
 * fail(item, message, retryable), notice(kind, message), cancelled().
 */
export async function predictItems(modelId, items, hooks) {
  let batch = [...items];
  while (batch.length) {
    try {
      const list = await runTask(modelId, batch, hooks.progress, hooks.cancelled);
      if (list === null) return;
      pairResults(batch, list).forEach((r, i) => {
        if (r) hooks.result(batch[i], r);
        else hooks.fail(batch[i], "The server returned no result for this image.", true);
      });
      return;
    } catch (error) {
      if (hooks.cancelled()) return;
      const refused = error instanceof api.ApiError && error.status >= 400 && error.status < 500;
      const culprit = refused ? fileNamedIn(error.detail ?? "", batch) : null;
      if (culprit) {
        const refused = alsoRefused(culprit, batch, error);
        for (const item of refused) hooks.fail(item, item === culprit ? error.message : sameRefusal(item, culprit), false);
        batch = batch.filter((item) => !refused.includes(item));
        const names = refused.map((item) => item.name).join(", ");
        if (batch.length) hooks.notice("warn", `${names} ${refused.length > 1 ? "were" : "was"} refused; sending the other ${batch.length} image${batch.length > 1 ? "s" : ""}.`);
        continue;
      }
      const retryable = !(error instanceof api.ApiError) || error.status === 0 || error.status >= 500;
      for (const item of batch) hooks.fail(item, error.message, retryable);
      hooks.notice("error", error.message);
      return;
    }
  }
}
