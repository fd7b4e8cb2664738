/** Every problem with an adapter (its config, its tensors, its fit to the base model) is an AdapterError. */
export class AdapterError extends Error {
  override readonly name = 'AdapterError';
}
