// The public surface of fulfillment/: other parts import from here only (eslint.config.js enforces it).
export { type Routing, type StepPlan } from './decompose.ts';
export { Orchestrator, type FulfillmentSettings } from './orchestrator.ts';
export { orderTasksInTx, rerunItemTasksInTx, setOrderTasksHeldInTx, withdrawItemTasksInTx, type FulfillmentTask } from './order-tasks.ts';
export { type FulfillmentOutcomes, type ItemFailure, type ItemRef, type ItemToProvision, type OrderOutcomes, type TaskOutcome } from './outcomes.ts';
export { listOrderTasksInTx, planAndEnqueueInTx, type TaskView } from './plan.ts';
export { ProvisionerRegistry, ProvisionerRegistryError } from './provisioner.ts';
export { InternalProvisioner, ManualProvisioner, loadProvisioners, type CallbackSecrets } from './provisioners.ts';
export { registerFulfillmentRoutes } from './routes.ts';
export { fulfillmentSettingsOf, startWorker } from './worker.ts';
