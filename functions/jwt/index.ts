export * from './config';
export { createJwtHandler, createJwtStrategy, type JwtHandlerDependencies } from './create-handler';
export * from './errors';
export * from './jwks-publisher';
export {
  generateSigningKey,
  type KeyGenerationOptions,
  type KeyGenerator,
  privateStrings,
} from './key-generator';
export * from './key-set';
export { JwtKeySetStrategy, type JwtKeySetStrategyDependencies, PROBE_TOKEN } from './strategy';
