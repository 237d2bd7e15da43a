#!/usr/bin/env Rscript
# Reference values for tests/unit/forecast from R's stats::HoltWinters.
#
#   cd tests/unit/forecast/data && Rscript make_reference.R [TRAFFIC_DIR]
#
# Debian 12: apt-get install r-base-core r-cran-forecast (R 4.2.2).
# Writes (all small, committed):
#   r_series.csv   series,t,value          the R datasets used (real series shipped with R)
#   r_start.csv    series,model,what,k,value  l.start / b.start / s.start
#   r_fixed_params.csv model,alpha,beta,gamma  the fixed parameters below
#   r_fixed.csv    series,model,t,xhat,level,trend,season  filter at fixed parameters
#   r_optim.csv    series,model,period,alpha,beta,gamma,sse  R's own optimum (optim L-BFGS-B)
#   r_predict.csv  series,model,h,fit,upr,lwr  predict.HoltWinters at level 0.95 (additive models)
#   r_qnorm.csv    p,q                     qnorm, for the interval code
#   r_traces.csv   file,first,n,period,model,alpha,beta,gamma,sse,sse_fixed
#                  on subsets of the real traces (only when TRAFFIC_DIR exists;
#                  the traces themselves are never copied here)
# The fixed parameters are arbitrary but not at a bound, so every term of the
# recursion matters.
args <- commandArgs(trailingOnly = TRUE)
traffic <- if (length(args) >= 1) args[1] else file.path("..", "..", "..", "..", "..", "shared", "data", "traffic")

fixed <- list(ses = c(0.3, NA, NA), holt = c(0.6, 0.2, NA), "seasonal-add" = c(0.45, NA, 0.35),
              "hw-add" = c(0.45, 0.08, 0.35), "hw-mul" = c(0.45, 0.08, 0.35))

series <- list(
  list(name = "co2", x = co2, models = c("hw-add", "hw-mul", "seasonal-add")),
  list(name = "AirPassengers", x = AirPassengers, models = c("hw-mul", "hw-add")),
  list(name = "UKgas", x = UKgas, models = c("hw-mul", "hw-add")),
  list(name = "nottem", x = nottem, models = c("hw-add", "seasonal-add")),
  list(name = "USAccDeaths", x = USAccDeaths, models = c("hw-add", "hw-mul")),
  list(name = "Nile", x = Nile, models = c("ses", "holt")),
  list(name = "WWWusage", x = WWWusage, models = c("ses", "holt")),
  list(name = "austres", x = austres, models = c("holt"))
)

hw_call <- function(x, model, par = NULL) {
  seasonal <- if (model == "hw-mul") "multiplicative" else "additive"
  a <- if (is.null(par)) NULL else par[1]
  b <- if (model %in% c("ses", "seasonal-add")) FALSE else if (is.null(par)) NULL else par[2]
  g <- if (model %in% c("ses", "holt")) FALSE else if (is.null(par)) NULL else par[3]
  HoltWinters(x, alpha = a, beta = b, gamma = g, seasonal = seasonal)
}

fmt <- function(v) trimws(formatC(as.numeric(v), digits = 17, format = "g"))

rows_series <- c("series,t,value")
rows_start <- c("series,model,what,k,value")
rows_fixed <- c("series,model,t,xhat,level,trend,season")
rows_optim <- c("series,model,period,alpha,beta,gamma,sse")
rows_pred <- c("series,model,h,fit,upr,lwr")

for (s in series) {
  x <- as.numeric(s$x)
  rows_series <- c(rows_series, paste(s$name, seq_along(x), fmt(x), sep = ","))
  m <- frequency(s$x)
  for (model in s$models) {
    xx <- if (model %in% c("ses", "holt")) ts(x) else s$x
    hf <- hw_call(xx, model, fixed[[model]])
    ff <- hf$fitted
    lev <- ff[, "level"]
    tr <- if ("trend" %in% colnames(ff)) ff[, "trend"] else rep(0, nrow(ff))
    se <- if ("season" %in% colnames(ff)) ff[, "season"] else rep(if (model == "hw-mul") 1 else 0, nrow(ff))
    tt <- length(x) - nrow(ff) + seq_len(nrow(ff))
    if (model != "hw-mul") {
      p <- predict(hf, n.ahead = 2 * max(m, 6), prediction.interval = TRUE, level = 0.95)
      rows_pred <- c(rows_pred, paste(s$name, model, seq_len(nrow(p)), fmt(p[, "fit"]), fmt(p[, "upr"]),
                                      fmt(p[, "lwr"]), sep = ","))
    }
    rows_fixed <- c(rows_fixed, paste(s$name, model, tt, fmt(ff[, "xhat"]), fmt(lev), fmt(tr), fmt(se), sep = ","))
    # start values as HoltWinters computed them (visible through the first fitted row)
    if (!(model %in% c("ses", "holt"))) {
      st <- decompose(ts(x[1:(2 * m)], start = c(1, 1), frequency = m), if (model == "hw-mul") "multiplicative" else "additive")
      dat <- na.omit(st$trend)
      cf <- coef(.lm.fit(x = cbind(1, seq_along(dat)), y = dat))
      rows_start <- c(rows_start, paste(s$name, model, "l", 0, fmt(cf[1]), sep = ","),
                      paste(s$name, model, "b", 0, fmt(cf[2]), sep = ","),
                      paste(s$name, model, "s", seq_len(m) - 1, fmt(st$figure), sep = ","))
    }
    ho <- hw_call(xx, model)
    g <- if (is.logical(ho$gamma)) NA else ho$gamma
    b <- if (is.logical(ho$beta)) NA else ho$beta
    rows_optim <- c(rows_optim, paste(s$name, model, if (model %in% c("ses", "holt")) 1 else m,
                                      fmt(ho$alpha), fmt(b), fmt(g), fmt(ho$SSE), sep = ","))
  }
}
writeLines(rows_series, "r_series.csv")
writeLines(c("model,alpha,beta,gamma", paste(names(fixed), sapply(fixed, function(p) paste(fmt(p), collapse = ",")),
                                           sep = ",")), "r_fixed_params.csv")
writeLines(rows_start, "r_start.csv")
writeLines(rows_fixed, "r_fixed.csv")
writeLines(rows_optim, "r_optim.csv")
writeLines(rows_pred, "r_predict.csv")
qp <- c(0.001, 0.01, 0.025, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95, 0.975, 0.99, 0.999)
writeLines(c("p,q", paste(fmt(qp), fmt(qnorm(qp)), sep = ",")), "r_qnorm.csv")

# Real traces: subsets that keep the unit tests fast. first/n are 1-based.
subsets <- list(
  list(file = "inet_eu_hourly.csv", first = 1, n = 1231, period = 24),
  list(file = "inet_uk_hourly.csv", first = 1, n = 1657, period = 24),
  list(file = "inet_eu_5min.csv", first = 1, n = 2016, period = 288),
  list(file = "google_cpu_5min.csv", first = 1, n = 2016, period = 288),
  list(file = "google_mem_5min.csv", first = 1, n = 2016, period = 288)
)
rows_tr <- c("file,first,n,period,model,alpha,beta,gamma,sse,sse_fixed")
if (dir.exists(traffic)) {
  for (s in subsets) {
    d <- read.csv(file.path(traffic, s$file))
    x <- ts(d$value[s$first:(s$first + s$n - 1)], frequency = s$period)
    for (model in c("hw-add", "hw-mul")) {
      ho <- hw_call(x, model)
      hf <- hw_call(x, model, fixed[[model]])
      rows_tr <- c(rows_tr, paste(s$file, s$first, s$n, s$period, model, fmt(ho$alpha), fmt(ho$beta),
                                  fmt(ho$gamma), fmt(ho$SSE), fmt(hf$SSE), sep = ","))
    }
  }
  writeLines(rows_tr, "r_traces.csv")
} else {
  message("traffic folder ", traffic, " not found: r_traces.csv not regenerated")
}
