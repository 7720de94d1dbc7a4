// Entry of the device bundle (IIFE, global OtaFlash): the whole portable core.
export * from './index';
