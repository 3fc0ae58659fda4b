// The public surface of fulfillment/: other parts import from here only (eslint.config.js enforces it).
export { type Routing, type StepPlan } from './decompose.ts';
export { Orchestrator, withdrawItemsInTx, type FulfillmentSettings } from './orchestrator.ts';
export { listOrderTasksInTx, planAndEnqueueInTx, type TaskView } from './plan.ts';
export { ProvisionerRegistry, ProvisionerRegistryError } from './provisioner.ts';
export { InternalProvisioner, ManualProvisioner, loadProvisioners, type CallbackSecrets } from './provisioners.ts';
export { registerFulfillmentRoutes } from './routes.ts';
export { fulfillmentSettingsOf, startWorker } from './worker.ts';
