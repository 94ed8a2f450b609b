/** `GET /health`: the caches' health through `@nestjs/terminus` (L1 in use, repair queue, a probe read). */
import { Controller, Get, Inject } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { WriteThroughHealthIndicator } from '@writethrough/nestjs';

@Controller('health')
export class HealthController {
  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
    @Inject(WriteThroughHealthIndicator) private readonly writeThrough: WriteThroughHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([
      () => this.writeThrough.isHealthy('writethrough', this.indicators, { probeKey: 'health' }),
    ]);
  }
}
