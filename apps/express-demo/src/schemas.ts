/** The API's two resources, validated by zod on every PUT and PATCH (the router's `validate`). */
import { z } from 'zod';

/** A user: `PUT /users/:id`. */
export const User = z.object({
  name: z.string().trim().min(1).max(100),
  email: z.email().optional(),
});
export type User = z.infer<typeof User>;

/** A product: `PUT /products/:id`. */
export const Product = z.object({
  name: z.string().trim().min(1).max(100),
  price: z.number().nonnegative().max(1_000_000),
  stock: z.number().int().nonnegative().max(1_000_000),
});
export type Product = z.infer<typeof Product>;

/** Rows written straight to the database at startup (behind the caches' backs), so first reads miss. */
export const SEED = {
  users: {
    grace: { name: 'Grace Hopper', email: 'grace@example.com' },
    edsger: { name: 'Edsger Dijkstra', email: 'edsger@example.com' },
    barbara: { name: 'Barbara Liskov', email: 'barbara@example.com' },
  } satisfies Record<string, User>,
  products: {
    keyboard: { name: 'Keyboard', price: 49.9, stock: 120 },
    monitor: { name: 'Monitor', price: 219, stock: 35 },
    mouse: { name: 'Mouse', price: 19.5, stock: 300 },
    desk: { name: 'Standing desk', price: 499, stock: 8 },
  } satisfies Record<string, Product>,
};
