/**
 * The authenticator the browser checks give Chromium (DevTools Protocol WebAuthn domain): a
 * platform authenticator (CTAP2, internal transport) with resident keys and user verification,
 * which answers without a person's touch.
 */
export const VIRTUAL_AUTHENTICATOR = {
  options: {
    protocol: 'ctap2',
    transport: 'internal',
    hasResidentKey: true,
    hasUserVerification: true,
    isUserVerified: true,
    automaticPresenceSimulation: true,
  },
} as const
