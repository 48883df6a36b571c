/** ztunnel's in-pod listeners (DESIGN §3) and the mark on every socket it makes in a pod (Istio's InpodMark). */
export const OUTBOUND_PORT = 15001;
export const INBOUND_PLAINTEXT_PORT = 15006;
export const INBOUND_HBONE_PORT = 15008;
export const ZTUNNEL_PORTS: readonly number[] = [OUTBOUND_PORT, INBOUND_PLAINTEXT_PORT, INBOUND_HBONE_PORT];
/** Must equal the exemption in the capture rules (cni/src/agent/capture-rules.ts INPOD_MARK). */
export const INPOD_MARK = 0x539;
