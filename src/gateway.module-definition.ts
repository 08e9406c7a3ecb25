import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { GatewayOptions } from './config/gateway-options.interface.js';
import { GATEWAY_OPTIONS } from './gateway.constants.js';

export const {
  ConfigurableModuleClass: GatewayConfigurableModule,
  OPTIONS_TYPE: GATEWAY_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: GATEWAY_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<GatewayOptions>({ optionsInjectionToken: GATEWAY_OPTIONS })
  .setClassMethodName('forRoot')
  .build();
