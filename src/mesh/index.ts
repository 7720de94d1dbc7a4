export { MeshSimulation, runMeshSimulation, type MeshSimOptions, type MeshSummary, type MeshUpload } from './sim';
export { buildTopology, type Topology, type TopologyKind, type TopologyOptions } from './topology';
export { EventQueue } from './event-queue';
export { InvariantChecker, type InvariantRule, type InvariantReport } from './invariants';
export { MeshDevice, meshFlashPlan, type MeshFlashPlan, type MeshDeviceOptions, type ProcessOutcome } from './device';
export { MESH_APP_AREA, MESH_KEYS, meshSampleImage, meshScratchpad, deflateStored, itemVersionOf } from './sample';
