/** The API's two resources, checked by zod on every PUT and on the result of every PATCH. */
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

/** Ids in routes: 1 to 64 letters, digits, `_` or `-`. */
export const ID = /^[A-Za-z0-9_-]{1,64}$/;

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
