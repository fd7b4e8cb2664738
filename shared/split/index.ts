/** The split client: a session on the base-model server with the tenant's adapter applied at its taps. */
export { SplitSession, SplitError, type OpenOptions, type StepResult } from './session';
export { AdapterTaps, planFromAdapter } from './adapter-taps';
