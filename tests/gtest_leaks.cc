// SPDX-License-Identifier: MIT
//
// gtest_leaks.cc -- rgn's checkpoints in a GoogleTest suite, as
// rgn_audit_mark(3) shows them: an event listener, as googletest's own
// leak-checker sample is, and a test that leaves something behind fails
// alone, naming the site.  tests/frameworks.sh runs it under
// RGN_AUDIT=report and reads it.
#include <gtest/gtest.h>
#include <rgn.h>

static rgn_t *server; // lives as long as the program

// The adoption: a listener of a few lines.
struct RgnLeaks : testing::EmptyTestEventListener {
    rgn_mark_t mark = 0;
    void OnTestStart(const testing::TestInfo &t) override
    { mark = rgn_audit_mark_named(t.name()); }
    void OnTestEnd(const testing::TestInfo &) override
    { EXPECT_EQ(rgn_audit_since(mark, RGN_SINCE_CLOSED), 0); }
};

// One request: the peer's name goes into the server's region, and is
// freed when the request is done -- unless `leak`.
static void handle_request(bool leak)
{
    char *peer = rgn_strdup(server, "10.0.0.1"); // LEAK-SITE
    ASSERT_NE(peer, nullptr);
    if (!leak)
        ASSERT_EQ(rgn_free(server, peer), 0);
}

TEST(Handler, Leaky) { handle_request(true); }
TEST(Handler, Clean) { handle_request(false); }

int main(int argc, char **argv)
{
    testing::InitGoogleTest(&argc, argv);
    testing::UnitTest::GetInstance()->listeners().Append(new RgnLeaks);
    server = rgn_new();
    if (!server)
        return 99;
    int rc = RUN_ALL_TESTS();
    rgn_close_error(server); // the program ends: nothing to report
    return rc;
}
