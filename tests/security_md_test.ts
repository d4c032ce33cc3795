/** SECURITY.md cites tests by file and title: every cited title must exist in that file. */
import { test } from "node:test";
import assert from "node:assert/strict";

test("SECURITY.md cites only tests that exist", async () => {
  const md = await Deno.readTextFile(new URL("../SECURITY.md", import.meta.url));
  let cited = 0;
  // A cell fragment: `file_test.ts`: "title", "title"; the next `file` starts a new group.
  for (const group of md.matchAll(/`([a-z_/]+_test\.ts)`: ((?:"[^"]+"(?:, )?)+)/g)) {
    // Paths are relative to tests/ (`limits/x_test.ts`), or written from the repo root.
    const path = group[1].replace(/^tests\//, "");
    const file = await Deno.readTextFile(new URL(`./${path}`, import.meta.url));
    for (const [, title] of group[2].matchAll(/"([^"]+)"/g)) {
      // Titles generated per endpoint are written with `${path}` in the source.
      const generic = ["${path}", "${endpoint}"].map((v) =>
        "`" + title.replace(/\/[a-z]+(?=: )/, v) + "`"
      );
      assert.ok(
        file.includes(`"${title}"`) || file.includes(`\`${title}\``) ||
          generic.some((g) => file.includes(g)),
        `${group[1]} has no test titled ${JSON.stringify(title)}`,
      );
      cited++;
    }
  }
  assert.ok(cited >= 40, `only ${cited} citations parsed`);
});
