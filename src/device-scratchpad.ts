// Add-on of the slim device build (dist/device/otaflash-scratchpad.js, after otaflash-core.js): Wirepas
// scratchpads parsed, verified and processed on the device (creating one is a host job).
export {
  parseScratchpad, readScratchpadHeader, verifyScratchpad, verifyScratchpadCmac, computeScratchpadCmac, processScratchpad, extractScratchpad,
  decodeScratchpadItem, scratchpadBytes, parseScratchpadKeys, scratchpadInfoJson, SCRATCHPAD_TAG,
} from './formats/scratchpad';
export { isNewerScratchpadSeq, nextScratchpadSeq, isSinkScratchpadSeq } from './formats/scratchpad-seq';
