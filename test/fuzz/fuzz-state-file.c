/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * state_parse(): the restart state file (src/ccdevd/state-file.c), which a
 * restarted daemon trusts to say what each fd of its fd store is.  Any text:
 * a refusal always says why and returns nothing; what is accepted formats
 * back to text that parses again to the same text (the writer and the
 * strict reader agree on everything either can say), and each lease read
 * back equals the one it was written from (saved_lease_equal), whose kept
 * line then gives the same file (state_format_with, as state.c writes).
 */
#include <stdlib.h>
#include <string.h>

#include "ccdevd/state-file.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct saved_state *s = NULL, *again = NULL;
	char *text, *why = NULL, *formatted = NULL, *reformatted = NULL;
	int r;

	if (size > 1 << 20 || memchr(data, 0, size))
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;

	r = state_parse(text, "state.json", &s, &why);
	if (r < 0) {
		FUZZ_ASSERT(!s && why && strncmp(why, "state.json", 10) == 0);
		goto out;
	}
	FUZZ_ASSERT(s && !why);
	formatted = state_format(s);
	FUZZ_ASSERT(formatted);
	r = state_parse(formatted, "state.json", &again, &why);
	FUZZ_ASSERT(r == 0);
	reformatted = state_format(again);
	FUZZ_ASSERT(reformatted && strcmp(formatted, reformatted) == 0);
	FUZZ_ASSERT(again->n_leases == s->n_leases);
	{
		char **lines = calloc(s->n_leases + 1, sizeof(char *)), *with;

		FUZZ_ASSERT(lines);
		for (size_t i = 0; i < s->n_leases; i++) {
			FUZZ_ASSERT(saved_lease_equal(&s->leases[i], &again->leases[i]));
			lines[i] = state_format_lease(&again->leases[i]);
			FUZZ_ASSERT(lines[i]);
		}
		with = state_format_with(s, lines);
		FUZZ_ASSERT(with && strcmp(with, formatted) == 0);
		free(with);
		for (size_t i = 0; i < s->n_leases; i++)
			free(lines[i]);
		free(lines);
	}
out:
	saved_state_free(s);
	saved_state_free(again);
	free(text);
	free(why);
	free(formatted);
	free(reformatted);
	return 0;
}
