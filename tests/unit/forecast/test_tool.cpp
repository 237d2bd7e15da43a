// CSV input and the shadownet-forecast command line: output shapes, the
// parameters file, --online, and bad input giving a clear error that names the
// line with a non-zero exit.
#include "shadownet/forecast/csv.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <sys/wait.h>

namespace fc = shadownet::forecast;

namespace {

std::vector<fc::series_data> parse(const std::string& text) {
    std::istringstream in(text);
    return fc::read_series_csv(in, "mem.csv");
}

std::string parse_error(const std::string& text) {
    try {
        (void)parse(text);
    } catch (const fc::csv_error& e) {
        return e.what();
    }
    return "no error";
}

struct run_result {
    int code = -1;
    std::string out, err;
};

std::filesystem::path tmpdir() {
    static const auto dir = [] {
        auto d = std::filesystem::temp_directory_path() /
                 ("shadownet-forecast-test-" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        return d;
    }();
    return dir;
}

std::string tool() {
    const char* b = std::getenv("SHADOWNET_BUILD_ROOT");
    return std::string(b ? b : ".") + "/app/shadownet-forecast/shadownet-forecast";
}

std::string slurp(const std::filesystem::path& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

run_result run(const std::string& args) {
    const auto out = tmpdir() / "stdout", err = tmpdir() / "stderr";
    const std::string cmd = tool() + " " + args + " >" + out.string() + " 2>" + err.string();
    const int st = std::system(cmd.c_str());
    run_result r;
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

std::string write(const std::string& name, const std::string& text) {
    const auto p = tmpdir() / name;
    std::ofstream(p) << text;
    return p.string();
}

std::size_t lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

// Two monthly-like seasonal series in series,t,value form.
std::string two_series(std::size_t n) {
    std::ostringstream s;
    s << "series,t,value\n";
    std::mt19937 rng(1);
    std::normal_distribution<double> noise(0, 1);
    for (const char* name : {"a", "b"})
        for (std::size_t t = 1; t <= n; ++t)
            s << name << ',' << t << ',' << 50 + 10 * std::sin(2 * M_PI * static_cast<double>(t % 12) / 12) + noise(rng)
              << '\n';
    return s.str();
}

} // namespace

TEST(csv, reads_single_and_multi_series) {
    const auto one = parse("\"t\",\"value\"\n1,3.5\n2,NA\n3,\n4,1e3\n");
    ASSERT_EQ(one.size(), 1U);
    ASSERT_EQ(one[0].y.size(), 4U);
    EXPECT_EQ(one[0].y[0], 3.5);
    EXPECT_TRUE(std::isnan(one[0].y[1]));
    EXPECT_TRUE(std::isnan(one[0].y[2]));
    EXPECT_EQ(one[0].y[3], 1000.0);
    EXPECT_EQ(one[0].line[3], 5U);

    const auto many = parse("series,t,value\r\nx,1,1\r\ny,1,2\r\nx,2,3\r\n");
    ASSERT_EQ(many.size(), 2U);
    EXPECT_EQ(many[0].name, "x");
    EXPECT_EQ(many[0].y, (std::vector<double>{1, 3}));
    EXPECT_EQ(many[1].y, (std::vector<double>{2}));
    // Column order is free; t may be a timestamp.
    const auto swapped = parse("value,t\n7,2020-01\n8,2020-02\n");
    EXPECT_EQ(swapped[0].t[1], "2020-02");
}

TEST(csv, bad_input_names_the_line) {
    EXPECT_NE(parse_error("time,val\n1,2\n").find("mem.csv:1:"), std::string::npos);
    EXPECT_NE(parse_error("t,value\n1,2\n2,abc\n").find("mem.csv:3:"), std::string::npos);
    EXPECT_NE(parse_error("t,value\n1,2\n2,abc\n").find("abc"), std::string::npos);
    EXPECT_NE(parse_error("t,value\n1,2\n2,3,4\n").find("mem.csv:3:"), std::string::npos);
    EXPECT_NE(parse_error("t,value\n1,2\n\n4,1.5x\n").find("mem.csv:4:"), std::string::npos);
    EXPECT_NE(parse_error("").find("empty"), std::string::npos);
    EXPECT_NE(parse_error("t,value\n").find("no data"), std::string::npos);
}

TEST(tool, batch_writes_forecasts_and_params) {
    const auto in = write("two.csv", two_series(72));
    const auto params = (tmpdir() / "params.csv").string();
    const auto r = run(in + " --model hw-add --period 12 --horizon 6 --level 90 --params " + params);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("series,h,mean,lower,upper", 0), 0U) << r.out;
    EXPECT_EQ(lines(r.out), 1 + 2 * 6U);
    const auto p = slurp(params);
    EXPECT_EQ(p.rfind("series,model,period,alpha,beta,gamma,phi,sse", 0), 0U) << p;
    EXPECT_NE(p.find("a,hw-add,12,"), std::string::npos) << p;
    EXPECT_NE(p.find("b,hw-add,12,"), std::string::npos) << p;

    const auto a = run(in + " --model auto --period 12 --horizon 3");
    ASSERT_EQ(a.code, 0) << a.err;
    EXPECT_EQ(lines(a.out), 1 + 2 * 3U);
    EXPECT_EQ(a.out.find("nan"), std::string::npos);
}

TEST(tool, online_walks_every_point_after_warmup) {
    const auto in = write("two_online.csv", two_series(120));
    const auto r = run(in + " --online --period 12 --model auto");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("series,t,actual,forecast,lower,upper", 0), 0U);
    // Warm-up is three periods: 120 - 36 scored points per series.
    EXPECT_EQ(lines(r.out), 1 + 2 * (120 - 36U));
    EXPECT_NE(r.err.find("MAPE"), std::string::npos) << "summary printed: " << r.err;
    const auto h = run(in + " --online --period 12 --horizon 4 --model hw-add");
    ASSERT_EQ(h.code, 0) << h.err;
    // With h > 1 the warm-up also leaves room for a holdout at the horizon (+h).
    EXPECT_EQ(lines(h.out), 1 + 2 * (120 - 40 - 3U));
}

TEST(tool, bad_input_is_a_clear_error) {
    const auto nonnum = run(write("bad1.csv", "t,value\n1,2\n2,3\n3,oops\n"));
    EXPECT_EQ(nonnum.code, 1);
    EXPECT_NE(nonnum.err.find("bad1.csv:4:"), std::string::npos) << nonnum.err;

    const auto cols = run(write("bad2.csv", "time,v\n1,2\n"));
    EXPECT_EQ(cols.code, 1);
    EXPECT_NE(cols.err.find("bad2.csv:1:"), std::string::npos) << cols.err;

    const auto shortp = run(write("short.csv", "t,value\n1,2\n2,3\n3,4\n4,5\n") + " --model hw-add --period 12");
    EXPECT_EQ(shortp.code, 1);
    EXPECT_NE(shortp.err.find("short.csv:2-5"), std::string::npos) << shortp.err;
    EXPECT_NE(shortp.err.find("25"), std::string::npos) << shortp.err;

    auto text = two_series(60);
    text.replace(text.find("a,30,"), 0, "");
    const auto pos = text.find("a,30,");
    const auto eol = text.find('\n', pos);
    text.replace(pos, eol - pos, "a,30,0");
    const auto mul = run(write("zero.csv", text) + " --model hw-mul --period 12");
    EXPECT_EQ(mul.code, 1);
    EXPECT_NE(mul.err.find("zero.csv:31:"), std::string::npos) << mul.err;
    EXPECT_NE(mul.err.find("positive"), std::string::npos) << mul.err;
    // auto falls back instead.
    EXPECT_EQ(run(write("zero2.csv", text) + " --model auto --period 12").code, 0);

    EXPECT_EQ(run(write("ok.csv", "t,value\n1,2\n2,3\n") + " --model arima").code, 2);
    EXPECT_EQ(run(write("ok2.csv", "t,value\n1,2\n2,3\n") + " --level 150").code, 2);
    EXPECT_EQ(run(write("ok3.csv", "t,value\n1,2\n2,3\n") + " --bogus").code, 2);
    EXPECT_EQ(run((tmpdir() / "missing.csv").string()).code, 1);
}
