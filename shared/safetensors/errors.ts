/** Every problem the safetensors reader or writer finds is thrown as this. */
export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}
