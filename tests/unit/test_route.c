/* Route patterns: literals, captures, tails, trailing slashes, bounds. */
#include "transport/route.h"
#include "tap.h"

int main(void)
{
	struct tp_match m;
	char big[2048];

	ok(tp_pattern_valid("/"), "root is a pattern");
	ok(tp_pattern_valid("/sessions/{id}/view"), "a capture");
	ok(tp_pattern_valid("/novnc/{rest*}"), "a tail");
	ok(!tp_pattern_valid("novnc"), "no leading slash");
	ok(!tp_pattern_valid("/a/{rest*}/b"), "a tail only last");
	ok(!tp_pattern_valid("/a/{}/b"), "an empty capture name");
	ok(!tp_pattern_valid("/a/x{id}"), "a brace inside a literal");
	ok(!tp_pattern_valid("/{a}/{b}/{c}/{d}/{e}/{f}/{g}"), "too many captures");

	ok(tp_route_match("/", "/", &m) && m.n == 0, "/ matches /");
	ok(!tp_route_match("/", "/x", &m), "/ does not match /x");
	ok(tp_route_match("/health", "/health", &m), "a literal");
	ok(tp_route_match("/health", "/health/", &m), "one trailing slash is ignored");
	ok(!tp_route_match("/health", "/health//", &m), "two are not");
	ok(!tp_route_match("/health", "/healthz", &m), "a longer segment does not match");
	ok(!tp_route_match("/healthz", "/health", &m), "a shorter one neither");
	ok(!tp_route_match("/a/b", "/a", &m), "a shorter path");
	ok(!tp_route_match("/a", "/a/b", &m), "a longer path");

	ok(tp_route_match("/sessions/{id}/view", "/sessions/abc-1/view", &m) && m.n == 1, "a capture matches");
	is_str(tp_match_get(&m, "id"), "abc-1", "its value");
	ok(tp_match_get(&m, "other") == NULL, "an unknown capture is NULL");
	ok(!tp_route_match("/sessions/{id}/view", "/sessions//view", &m), "a capture is never empty");
	ok(!tp_route_match("/sessions/{id}/view", "/sessions/../view", &m), "nor ..");
	ok(!tp_route_match("/sessions/{id}/view", "/sessions/./view", &m), "nor .");
	ok(!tp_route_match("/sessions/{id}/view", "/sessions/a/b/view", &m), "nor two segments");
	ok(tp_route_match("/v1/{a}/x/{b}", "/v1/one/x/two", &m) && m.n == 2, "two captures");
	is_str(tp_match_get(&m, "a"), "one", "first");
	is_str(tp_match_get(&m, "b"), "two", "second");

	ok(tp_route_match("/novnc/{rest*}", "/novnc/app/ui.js", &m), "a tail takes the rest");
	is_str(tp_match_get(&m, "rest"), "app/ui.js", "with its slashes");
	ok(tp_route_match("/novnc/{rest*}", "/novnc/", &m), "a tail may be empty");
	is_str(tp_match_get(&m, "rest"), "", "empty");
	ok(tp_route_match("/novnc/{rest*}", "/novnc", &m), "also without the slash");
	ok(!tp_route_match("/novnc/{rest*}", "/novncx/a", &m), "but the literal still counts");

	memset(big, 'a', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = '\0';
	ok(!tp_route_match("/{id}", big, &m), "a capture past TP_CAPTURE_MAX does not match");
	ok(tp_route_match("/{id}", "/x", NULL), "m may be NULL");
	return tap_done();
}
