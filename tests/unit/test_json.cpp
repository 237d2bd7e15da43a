#include <stdexcept>

#include <gtest/gtest.h>

#include "shadownet/core/json.hpp"
#include "shadownet/dataplane/drop_reason.hpp"

using namespace shadownet;

TEST(json, compact_document_with_nesting)
{
    json_writer w(false);
    w.begin_object();
    w.member("a", 1);
    w.key("b").begin_array().value(true).value(2.5).null().value("x").end_array();
    w.key("c").begin_object().end_object();
    w.member("u", std::uint64_t{18446744073709551615ULL});
    w.end_object();
    EXPECT_EQ(w.str(), R"({"a":1,"b":[true,2.5,null,"x"],"c":{},"u":18446744073709551615})");
}

TEST(json, escapes_strings_and_refuses_non_finite_numbers)
{
    EXPECT_EQ(json_writer::escape("a\"b\\c\nd\x01"), "a\\\"b\\\\c\\nd\\u0001");
    json_writer w(false);
    w.begin_array().value(std::numeric_limits<double>::quiet_NaN()).end_array();
    EXPECT_EQ(w.str(), "[null]");
}

TEST(json, misuse_throws)
{
    json_writer a;
    a.begin_object();
    EXPECT_THROW(a.value(1), std::logic_error);
    EXPECT_THROW((void)a.str(), std::logic_error);
    json_writer b;
    EXPECT_THROW(b.key("k"), std::logic_error);
    json_writer c;
    c.begin_array();
    EXPECT_THROW(c.end_object(), std::logic_error);
}

TEST(drop_reason, names_are_unique_and_round_trip)
{
    using namespace shadownet::dataplane;
    for (std::size_t i = 0; i < drop_reason_count; ++i) {
        const auto r = static_cast<drop_reason>(i);
        EXPECT_FALSE(name_of(r).empty());
        EXPECT_EQ(drop_reason_from_name(name_of(r)), r);
        for (std::size_t j = i + 1; j < drop_reason_count; ++j)
            EXPECT_NE(drop_reason_names[i], drop_reason_names[j]);
    }
    EXPECT_FALSE(drop_reason_from_name("cosmic_ray").has_value());
}
