/**
 * The demo's root module. `AppModule.forRoot()` reads the environment through `@nestjs/config`
 * (nothing set: PGlite and an in-process L1); `AppModule.forRoot(settings)` takes them as they are
 * (the tests do). Every injection names its token, so the app runs without emitted decorator
 * metadata (tsx and vitest compile with esbuild, which emits none).
 */
import { type DynamicModule, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { TerminusModule } from '@nestjs/terminus';
import { CacheRegistry } from '@writethrough/nestjs';
import { CachesModule } from './caches.js';
import { type DemoSettings, demoConfigOf, settingsFromEnv } from './config.js';
import { HealthController } from './health.controller.js';
import { INFRASTRUCTURE, type Infrastructure, InfrastructureModule } from './infrastructure.js';
import { ProductsController } from './products.controller.js';
import { UsersController } from './users.controller.js';

/** Closes the caches first (pending writes flushed), then the database and Redis they ran on. */
@Injectable()
class CloseInOrder implements OnApplicationShutdown {
  constructor(
    @Inject(CacheRegistry) private readonly registry: CacheRegistry,
    @Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    // The registry closes the caches on shutdown as well; close() is idempotent, so this only orders it.
    await this.registry.close();
    await this.infrastructure.close();
  }
}

@Module({})
// biome-ignore lint/complexity/noStaticOnlyClass: a Nest dynamic module is a class with a static forRoot.
export class AppModule {
  /** The app on `settings`, or on the environment (`DATABASE_URL`, `REDIS_URL`) when none are given. */
  static forRoot(settings?: DemoSettings): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot({
          isGlobal: true,
          ignoreEnvFile: settings !== undefined,
          load: [demoConfigOf(() => settings ?? settingsFromEnv())],
        }),
        InfrastructureModule,
        CachesModule,
        TerminusModule,
      ],
      controllers: [UsersController, ProductsController, HealthController],
      providers: [CloseInOrder],
    };
  }
}
