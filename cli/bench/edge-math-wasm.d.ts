/** A .wasm import is a compiled WebAssembly.Module in workerd (wrangler's CompiledWasm rule). */
declare module 'onnxruntime-web/ort-wasm-simd-threaded.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
