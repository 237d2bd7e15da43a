#!/usr/bin/env Rscript
# Held-out accuracy on monthly and quarterly series: shadownet-forecast
# (batch, --model auto) against R's forecast::ets (AICc selection) and seasonal
# naive, the way an operator would use the tool on data it has never seen.
#
#   Rscript bench/forecast-holdout-vs-ets.R build-fc/app/shadownet-forecast/shadownet-forecast
#
# Each series loses its last h points (h = 18 monthly, 8 quarterly, as in the
# M3 competition); every method fits the rest and forecasts h steps. Scores:
# sMAPE (%) and MASE (scaled by the in-sample seasonal naive MAE), averaged
# over series. Series: the monthly and quarterly data sets shipped with R
# (package datasets) and with forecast. Debian: r-base-core, r-cran-forecast.
suppressPackageStartupMessages(library(forecast))
args <- commandArgs(trailingOnly = TRUE)
tool <- if (length(args) >= 1) args[1] else "build-fc/app/shadownet-forecast/shadownet-forecast"

series <- list(
  AirPassengers = AirPassengers, co2 = co2, nottem = nottem, USAccDeaths = USAccDeaths,
  UKDriverDeaths = UKDriverDeaths, ldeaths = ldeaths, mdeaths = mdeaths, fdeaths = fdeaths,
  sunspots_last = window(sunspots, start = c(1950, 1)), wineind = wineind, gas = window(gas, start = c(1970, 1)),
  UKgas = UKgas, JohnsonJohnson = JohnsonJohnson, austres = austres, woolyrnq = woolyrnq,
  qgdp_uk = window(log(EuStockMarkets[, "FTSE"]), 1991.5, 1998.5) # not seasonal: a hard case, daily-ish -> use as m=1 below
)
series$qgdp_uk <- NULL

smape <- function(a, f) mean(200 * abs(a - f) / (abs(a) + abs(f)))
mase <- function(train, a, f, m) mean(abs(a - f)) / mean(abs(diff(as.numeric(train), lag = m)))

rows <- list()
tmp <- tempfile(fileext = ".csv")
out <- tempfile(fileext = ".csv")
for (name in names(series)) {
  x <- series[[name]]
  m <- frequency(x)
  h <- if (m == 12) 18 else 8
  n <- length(x)
  train <- ts(x[1:(n - h)], frequency = m, start = start(x))
  test <- as.numeric(x[(n - h + 1):n])

  writeLines(c("t,value", paste(seq_along(train), format(as.numeric(train), digits = 17), sep = ",")), tmp)
  t0 <- proc.time()[["elapsed"]]
  status <- system2(tool, c(tmp, "--period", m, "--horizon", h, "--model", "auto", "-o", out), stdout = FALSE)
  t_ours <- proc.time()[["elapsed"]] - t0
  if (status != 0) stop("shadownet-forecast failed on ", name)
  ours <- read.csv(out)$mean

  t0 <- proc.time()[["elapsed"]]
  fe <- forecast(ets(train), h = h)$mean
  t_ets <- proc.time()[["elapsed"]] - t0
  fh <- forecast(HoltWinters(train), h = h)$mean
  fs <- snaive(train, h = h)$mean

  rows[[name]] <- data.frame(series = name, m = m, n = n - h, h = h,
    smape_ours = smape(test, ours), smape_ets = smape(test, fe), smape_hw = smape(test, fh), smape_snaive = smape(test, fs),
    mase_ours = mase(train, test, ours, m), mase_ets = mase(train, test, fe, m), mase_hw = mase(train, test, fh, m),
    mase_snaive = mase(train, test, fs, m), sec_ours = t_ours, sec_ets = t_ets)
}
res <- do.call(rbind, rows)
cat("| series | m | n | h | sMAPE shadownet | sMAPE ets | sMAPE HoltWinters | sMAPE snaive | MASE shadownet | MASE ets | MASE HoltWinters | MASE snaive |\n")
cat("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
for (i in seq_len(nrow(res))) {
  r <- res[i, ]
  cat(sprintf("| %s | %d | %d | %d | %.2f | %.2f | %.2f | %.2f | %.3f | %.3f | %.3f | %.3f |\n", r$series, r$m, r$n, r$h,
              r$smape_ours, r$smape_ets, r$smape_hw, r$smape_snaive, r$mase_ours, r$mase_ets, r$mase_hw, r$mase_snaive))
}
cat(sprintf("| **mean** | | | | **%.2f** | **%.2f** | **%.2f** | **%.2f** | **%.3f** | **%.3f** | **%.3f** | **%.3f** |\n",
            mean(res$smape_ours), mean(res$smape_ets), mean(res$smape_hw), mean(res$smape_snaive),
            mean(res$mase_ours), mean(res$mase_ets), mean(res$mase_hw), mean(res$mase_snaive)))
cat(sprintf("\nwall time: shadownet-forecast %.2f s (incl. process start), ets %.2f s\n", sum(res$sec_ours), sum(res$sec_ets)))
