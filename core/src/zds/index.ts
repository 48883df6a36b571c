// The node agent ↔ ztunnel protocol (see protocol.ts).
export {
  encodeZds,
  lineReader,
  parseAgentMessage,
  parseZdsPod,
  parseZtunnelMessage,
  ZDS_MAX_LINE_BYTES,
  ZDS_VERSION,
  ZdsProtocolError,
  type ZdsAgentMessage,
  type ZdsPod,
  type ZdsZtunnelMessage,
} from './protocol.ts';
