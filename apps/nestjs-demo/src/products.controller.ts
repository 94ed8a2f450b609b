/** `/products/:id`: GET from the cache, PUT and PATCH written through it, DELETE through it. */
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
import { Product } from './schemas.js';
import { ZodPipe } from './zod-pipe.js';

@Controller('products')
@UseInterceptors(WriteThroughInterceptor)
export class ProductsController {
  constructor(@InjectCache('products') private readonly products: WriteThroughCache<Product>) {}

  /** Answered from the cache (L1, L2, then Postgres) with its ETag; the handler runs only when absent. */
  @Get(':id')
  @CacheRead('products')
  get(@Param('id', IdPipe) id: string): never {
    notFound('product', id);
  }

  /** Writes the body through the cache: Postgres first, then the tiers; `If-Match` → `ifVersion`. */
  @Put(':id')
  @CacheWrite('products')
  put(@Param('id', IdPipe) _id: string, @Body(new ZodPipe(Product)) product: Product): Product {
    return product;
  }

  /** Merges the body into the version named by `If-Match`, then writes the result through the cache. */
  @Patch(':id')
  @CacheWrite('products')
  patch(
    @Param('id', IdPipe) id: string,
    @Headers('if-match') ifMatch: string | undefined,
    @Body() patch: unknown,
  ): Promise<Product> {
    return mergePatch(this.products, 'product', id, ifMatch, patch, Product);
  }

  /** Deletes through the cache (a tombstone in Postgres, then the tiers). */
  @Delete(':id')
  @HttpCode(204)
  @CacheWrite('products')
  async remove(@Param('id', IdPipe) id: string): Promise<void> {
    if ((await this.products.getEntry(id)) === undefined) notFound('product', id);
  }
}
