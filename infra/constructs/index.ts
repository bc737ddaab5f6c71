export * from './api-key-rotation';
export * from './consumer-tracker';
export * from './database-secret-rotation';
export * from './jwt-signing-key-rotation';
export * from './rotation-alarms';
export * from './rotation-events';
export * from './rotation-function';
export * from './schedule';
