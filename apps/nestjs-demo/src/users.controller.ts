/** `/users/:id`: GET from the cache, PUT and PATCH written through it, DELETE through it. */
import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Param,
  Patch,
  Put,
  UseInterceptors,
} from '@nestjs/common';
import type { WriteThroughCache } from '@writethrough/core';
import { CacheRead, CacheWrite, InjectCache, WriteThroughInterceptor } from '@writethrough/nestjs';
import { IdPipe, mergePatch, notFound } from './resource.js';
import { User } from './schemas.js';
import { ZodPipe } from './zod-pipe.js';

@Controller('users')
@UseInterceptors(WriteThroughInterceptor)
export class UsersController {
  constructor(@InjectCache('users') private readonly users: WriteThroughCache<User>) {}

  /** Answered from the cache (L1, L2, then Postgres) with its ETag; the handler runs only when absent. */
  @Get(':id')
  @CacheRead('users')
  get(@Param('id', IdPipe) id: string): never {
    notFound('user', id);
  }

  /** Writes the body through the cache: Postgres first, then the tiers; `If-Match` → `ifVersion`. */
  @Put(':id')
  @CacheWrite('users')
  put(@Param('id', IdPipe) _id: string, @Body(new ZodPipe(User)) user: User): User {
    return user;
  }

  /** Merges the body into the version named by `If-Match`, then writes the result through the cache. */
  @Patch(':id')
  @CacheWrite('users')
  patch(
    @Param('id', IdPipe) id: string,
    @Headers('if-match') ifMatch: string | undefined,
    @Body() patch: unknown,
  ): Promise<User> {
    return mergePatch(this.users, 'user', id, ifMatch, patch, User);
  }

  /** Deletes through the cache (a tombstone in Postgres, then the tiers). */
  @Delete(':id')
  @HttpCode(204)
  @CacheWrite('users')
  async remove(@Param('id', IdPipe) id: string): Promise<void> {
    if ((await this.users.getEntry(id)) === undefined) notFound('user', id);
  }
}
