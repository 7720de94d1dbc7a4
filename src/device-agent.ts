// Add-on of the slim device build (dist/device/otaflash-agent.js, after otaflash-core.js,
// otaflash-signature.js, otaflash-delta.js and otaflash-store.js): the update agent (sans-I/O: the
// runtime feeds events and carries out actions), its OTA and store installers, plan checks.
export { UpdateAgent } from './agent/agent';
export { otaModuleInstaller } from './agent/ota-installer';
export { readAgentRecord, writeAgentRecord } from './agent/record';
export { checkPlan } from './agent/plan';
export { checkPlanSignature } from './agent/plan-signature';
export { storeInstaller } from './agent/store-installer';
