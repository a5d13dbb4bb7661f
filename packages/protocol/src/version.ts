/** Version of the gateway <-> agent protocol. Bump on any incompatible change. */
export const PROTOCOL_VERSION = 1
