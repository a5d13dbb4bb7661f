/** One page of a listing: its items and, while more follow, the cursor of the next. */
export interface Page<T> {
  readonly items: readonly T[]
  readonly nextCursor?: string | undefined
}

/** Every item of a listing, page after page, following `nextCursor` until a page has none. */
export async function* eachItem<T>(page: (cursor: string | undefined) => Promise<Page<T>>): AsyncGenerator<T, void, undefined> {
  let cursor: string | undefined
  do {
    const p = await page(cursor)
    yield* p.items
    cursor = p.nextCursor
  } while (cursor !== undefined)
}
