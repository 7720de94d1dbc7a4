// Entry of the contract bundle for the engine runs (global OtaContract, built by scripts/test-engines.mjs,
// lowered to ES5): the block-device contract suite, which the device builds leave out. Its errors module
// is mapped to the device build's global OtaFlash, so `instanceof OtaflashError` sees the build's class.
export { checkBlockDeviceContract, formatContractReport, CONTRACT_RULES } from '../../src/flash/contract';
