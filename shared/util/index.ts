export { Rng, type RngState } from './rng';
export {
  centralDifference,
  numericGradient,
  directionalDerivative,
  relativeError,
  relativeErrorScalar,
  dot,
} from './gradcheck';
