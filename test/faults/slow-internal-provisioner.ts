/**
 * A provisioner for the fault suite that, like `internal`, always succeeds, but takes a moment
 * and says so (timeoutMs above 0): its tasks are claimed, run outside any transaction under a
 * lease and recorded afterwards, as an external system's are, so that a worker killed while
 * its call is out leaves a task running under its lease for another worker to take over.
 * (Tasks of `internal`, which answers at once, run inside their order's transaction: a killed
 * worker leaves nothing of them, decision 0019.) Loaded through TENURE_PROVISIONERS.
 */
const slowInternal = {
  timeoutMs: 1_000,
  code: () => 'slow-internal',
  async provision() {
    await new Promise((resolve) => setTimeout(resolve, 30 + Math.random() * 40));
    return { outcome: 'done' as const, externalId: null };
  },
};

export default slowInternal;
