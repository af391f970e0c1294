/**
 * Mocha root hooks, loaded through `require` in .mocharc.json, so they run once for the
 * whole run whichever test files it includes.
 */
import { deleteUniqueRouteQueues } from "./broker.js";

export const mochaHooks = {
  /**
   * Deletes the `test-` queues that the tests created, so runs leave none behind. A broker
   * that is down at the end leaves them in place with a warning rather than failing the run.
   */
  async afterAll(): Promise<void> {
    await deleteUniqueRouteQueues().catch((error: unknown) => {
      console.warn(`Deleting the test queues failed, so some remain: ${String(error)}`);
    });
  },
};
