// Types of aws-sdk-client-mock-jest's matchers (toHaveReceivedCommandWith, ...), registered in jest.config.js.
import 'aws-sdk-client-mock-jest';
