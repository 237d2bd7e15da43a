#!/usr/bin/env Rscript
# What the reference packages achieve one step ahead on the hourly internet
# traces (docs/forecasting.md, "Hourly traces"): the yardstick for the
# engine's online one-step MAPE there.
#
#   Rscript bench/forecast-hourly-reference.R [../shared/data/traffic]
#
# For each trace and each method, MAPE (%) of one-step forecasts:
#  - in-sample: the fitted one-step values of a fit on the whole series
#    (parameters have seen the future: an optimistic bound);
#  - rolling origin: parameters re-estimated every day (24 points; dshw,
#    whose fit takes seconds, every week) on all data so far, then the next
#    day (week) forecast one step at a time with the state filtered through
#    the actuals -- what an online learner can do.
# Both are scored on the same points: t > 504 (three weeks, so the weekly
# models have their start periods and a week to learn from) and, for the
# daily models, also t > 72 (three days: the engine's warm-up).
# Methods: stats::HoltWinters additive / multiplicative with m = 24 and
# m = 168, forecast::ets (automatic, m = 24), forecast::dshw (Taylor's
# double-seasonal Holt-Winters, 24 and 168) and the naive baselines.
# Debian: r-base-core, r-cran-forecast.
suppressPackageStartupMessages(library(forecast))
args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args) >= 1) args[1] else file.path("..", "shared", "data", "traffic")
daily_every <- 24

mape <- function(a, f, idx) 100 * mean(abs(a[idx] - f[idx]) / abs(a[idx]), na.rm = TRUE)

# One-step forecasts of the whole series from fixed parameters: HoltWinters'
# own recursion with R's start values, so fitted values are one-step forecasts.
hw_onestep <- function(y, m, seasonal, fit_to) {
  fit <- suppressWarnings(HoltWinters(ts(y[1:fit_to], frequency = m), seasonal = seasonal))
  full <- suppressWarnings(HoltWinters(ts(y, frequency = m), seasonal = seasonal,
                                       alpha = fit$alpha, beta = fit$beta, gamma = fit$gamma))
  f <- rep(NA_real_, length(y))
  f[(length(y) - length(full$fitted[, "xhat"]) + 1):length(y)] <- as.numeric(full$fitted[, "xhat"])
  f
}

# Rolling origin: refit on y[1..o] every `daily_every` points, forecast
# y[o+1..o+24] one step at a time with those parameters.
rolling <- function(y, from, onestep_from_params, every = daily_every) {
  f <- rep(NA_real_, length(y))
  o <- from
  while (o < length(y)) {
    nxt <- min(o + every, length(y))
    g <- onestep_from_params(y[1:nxt], o)
    f[(o + 1):nxt] <- g[(o + 1):nxt]
    o <- nxt
  }
  f
}

ets_onestep <- function(y, m, fit_to) {
  fit <- ets(ts(y[1:fit_to], frequency = m))
  full <- ets(ts(y, frequency = m), model = fit, use.initial.values = TRUE)
  as.numeric(fitted(full))
}

dshw_onestep <- function(y, fit_to) {
  fit <- dshw(y[1:fit_to], period1 = 24, period2 = 168)
  full <- dshw(y, period1 = 24, period2 = 168, model = fit)
  as.numeric(fitted(full))
}

for (file in c("inet_eu_hourly.csv", "inet_uk_hourly.csv")) {
  path <- file.path(dir, file)
  if (!file.exists(path)) { cat("skip", path, "(absent)\n"); next }
  y <- read.csv(path)$value
  n <- length(y)
  late <- 505:n
  early <- 73:n
  cat(sprintf("\n%s: %d points\n", file, n))
  cat(sprintf("| method | in-sample t>72 | in-sample t>504 | rolling t>72 | rolling t>504 |\n"))
  row <- function(name, ins, rol) {
    fmt <- function(f, idx) if (is.null(f) || all(is.na(f[idx]))) "-" else sprintf("%.2f", mape(y, f, idx))
    cat(sprintf("| %s | %s | %s | %s | %s |\n", name, fmt(ins, early), fmt(ins, late), fmt(rol, early),
                fmt(rol, late)))
  }
  nv <- c(NA, y[-n])
  row("naive (last hour)", nv, nv)
  sn24 <- c(rep(NA, 24), y[1:(n - 24)])
  row("seasonal naive, day", sn24, sn24)
  sn168 <- c(rep(NA, 168), y[1:(n - 168)])
  row("seasonal naive, week", sn168, sn168)
  for (seas in c("additive", "multiplicative")) {
    ins <- hw_onestep(y, 24, seas, n)
    rol <- rolling(y, 72, function(yy, o) hw_onestep(yy, 24, seas, o))
    row(sprintf("HoltWinters %s, m = 24", seas), ins, rol)
    ins <- hw_onestep(y, 168, seas, n)
    rol <- rolling(y, 504, function(yy, o) hw_onestep(yy, 168, seas, o))
    row(sprintf("HoltWinters %s, m = 168", seas), ins, rol)
  }
  ins <- ets_onestep(y, 24, n)
  rol <- rolling(y, 72, function(yy, o) ets_onestep(yy, 24, o))
  row(sprintf("ets (auto, m = 24: %s)", ets(ts(y, frequency = 24))$method), ins, rol)
  ins <- dshw_onestep(y, n)
  rol <- rolling(y, 504, function(yy, o) dshw_onestep(yy, o), every = 168)
  row("dshw (24, 168)", ins, rol)
}
