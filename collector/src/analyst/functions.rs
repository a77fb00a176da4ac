//! The functions an analyst's SELECT may call: what analytics over `events`, `sessions` and
//! `goals` needs, and nothing that reads files, the network, dictionaries, other tables,
//! settings or the server (`file`, `url`, `dictGet`, `joinGet`, `getSetting`, `hostName`, ...).
//! Names are matched exactly and, for ClickHouse's case-insensitive functions, by lower case.
//! Table functions are never listed (a test checks this list against the engine's).

/// Scalar and window functions, and the operators the parser turns into functions.
const SCALAR: &[&str] = &[
    // operators, logic, conditionals
    "plus",
    "minus",
    "multiply",
    "divide",
    "intDiv",
    "intDivOrZero",
    "modulo",
    "moduloOrZero",
    "negate",
    "abs",
    "equals",
    "notEquals",
    "less",
    "greater",
    "lessOrEquals",
    "greaterOrEquals",
    "and",
    "or",
    "not",
    "xor",
    "if",
    "multiIf",
    "caseWithExpression",
    "transform",
    "in",
    "notIn",
    "globalIn",
    "globalNotIn",
    "nullIn",
    "notNullIn",
    "like",
    "notLike",
    "ilike",
    "notILike",
    "match",
    "isNull",
    "isNotNull",
    "coalesce",
    "ifNull",
    "nullIf",
    "assumeNotNull",
    "toNullable",
    "isZeroOrNull",
    "greatest",
    "least",
    "exists",
    "lambda",
    "tuple",
    "tupleElement",
    "array",
    "arrayElement",
    "map",
    "CAST",
    "_CAST",
    "accurateCast",
    "accurateCastOrNull",
    "isNaN",
    "isFinite",
    "isInfinite",
    "ifNotFinite",
    // numbers
    "round",
    "roundBankers",
    "floor",
    "ceil",
    "ceiling",
    "trunc",
    "truncate",
    "sqrt",
    "exp",
    "log",
    "ln",
    "log2",
    "log10",
    "pow",
    "power",
    "sign",
    "e",
    "pi",
    "intExp2",
    "intExp10",
    "roundToExp2",
    "roundDown",
    "bitAnd",
    "bitOr",
    "bitXor",
    "bitNot",
    "bitShiftLeft",
    "bitShiftRight",
    "bitCount",
    "percentRank",
    // type conversion
    "toString",
    "toFixedString",
    "toInt8",
    "toInt16",
    "toInt32",
    "toInt64",
    "toUInt8",
    "toUInt16",
    "toUInt32",
    "toUInt64",
    "toFloat32",
    "toFloat64",
    "toDecimal32",
    "toDecimal64",
    "toInt32OrZero",
    "toInt64OrZero",
    "toUInt32OrZero",
    "toUInt64OrZero",
    "toFloat64OrZero",
    "toInt64OrNull",
    "toUInt64OrNull",
    "toFloat64OrNull",
    "toDateOrNull",
    "toDateTimeOrNull",
    "toDate",
    "toDate32",
    "toDateTime",
    "toDateTime64",
    "toUUID",
    "toTypeName",
    "reinterpretAsString",
    "toLowCardinality",
    "parseDateTimeBestEffort",
    "parseDateTimeBestEffortOrNull",
    "parseDateTime",
    "parseDateTimeOrNull",
    "toBool",
    // dates and times
    "now",
    "now64",
    "today",
    "yesterday",
    "toTimeZone",
    "timezone",
    "toYear",
    "toQuarter",
    "toMonth",
    "toWeek",
    "toISOWeek",
    "toISOYear",
    "toDayOfYear",
    "toDayOfMonth",
    "toDayOfWeek",
    "toHour",
    "toMinute",
    "toSecond",
    "toUnixTimestamp",
    "fromUnixTimestamp",
    "toStartOfYear",
    "toStartOfQuarter",
    "toStartOfMonth",
    "toMonday",
    "toStartOfWeek",
    "toStartOfDay",
    "toStartOfHour",
    "toStartOfMinute",
    "toStartOfFiveMinutes",
    "toStartOfFifteenMinutes",
    "toStartOfTenMinutes",
    "toStartOfInterval",
    "toLastDayOfMonth",
    "toYYYYMM",
    "toYYYYMMDD",
    "toYYYYMMDDhhmmss",
    "toRelativeDayNum",
    "toRelativeHourNum",
    "toRelativeWeekNum",
    "toRelativeMonthNum",
    "dateDiff",
    "date_diff",
    "age",
    "dateTrunc",
    "date_trunc",
    "DATE_TRUNC",
    "addSeconds",
    "addMinutes",
    "addHours",
    "addDays",
    "addWeeks",
    "addMonths",
    "addYears",
    "subtractSeconds",
    "subtractMinutes",
    "subtractHours",
    "subtractDays",
    "subtractWeeks",
    "subtractMonths",
    "subtractYears",
    "toIntervalSecond",
    "toIntervalMinute",
    "toIntervalHour",
    "toIntervalDay",
    "toIntervalWeek",
    "toIntervalMonth",
    "toIntervalQuarter",
    "toIntervalYear",
    "formatDateTime",
    "formatDateTimeInJodaSyntax",
    "dateName",
    "monthName",
    "timeSlot",
    "timeSlots",
    "makeDate",
    "makeDateTime",
    "toStartOfISOYear",
    // strings
    "length",
    "lengthUTF8",
    "CHAR_LENGTH",
    "empty",
    "notEmpty",
    "lower",
    "upper",
    "lowerUTF8",
    "upperUTF8",
    "concat",
    "concatWithSeparator",
    "substring",
    "substr",
    "substringUTF8",
    "left",
    "right",
    "leftUTF8",
    "rightUTF8",
    "trim",
    "trimLeft",
    "trimRight",
    "trimBoth",
    "ltrim",
    "rtrim",
    "position",
    "positionCaseInsensitive",
    "positionUTF8",
    "locate",
    "startsWith",
    "endsWith",
    "replace",
    "replaceOne",
    "replaceAll",
    "replaceRegexpOne",
    "replaceRegexpAll",
    "extract",
    "extractAll",
    "extractGroups",
    "splitByChar",
    "splitByString",
    "splitByRegexp",
    "arrayStringConcat",
    "repeat",
    "reverse",
    "leftPad",
    "rightPad",
    "lpad",
    "rpad",
    "countSubstrings",
    "multiSearchAny",
    "multiMatchAny",
    "hasToken",
    "base64Encode",
    "base64Decode",
    "hex",
    "unhex",
    "toValidUTF8",
    "normalizeUTF8NFC",
    "initcap",
    "editDistance",
    "ngramDistance",
    "JSONExtractString",
    "JSONExtractInt",
    "JSONExtractFloat",
    "JSONExtractBool",
    "JSONHas",
    "JSONExtractKeys",
    "JSONLength",
    "visitParamExtractString",
    "visitParamExtractInt",
    // URLs
    "protocol",
    "domain",
    "domainWithoutWWW",
    "topLevelDomain",
    "firstSignificantSubdomain",
    "cutToFirstSignificantSubdomain",
    "path",
    "pathFull",
    "queryString",
    "fragment",
    "extractURLParameter",
    "extractURLParameters",
    "extractURLParameterNames",
    "cutQueryString",
    "cutFragment",
    "cutQueryStringAndFragment",
    "cutWWW",
    "cutURLParameter",
    "decodeURLComponent",
    "encodeURLComponent",
    "URLHierarchy",
    "URLPathHierarchy",
    "netloc",
    "port",
    // hashes (of values already in the analyst schema)
    "cityHash64",
    "sipHash64",
    "xxHash64",
    "murmurHash3_64",
    "farmHash64",
    "MD5",
    "SHA256",
    // arrays, maps, tuples
    "has",
    "hasAll",
    "hasAny",
    "indexOf",
    "arrayMap",
    "arrayFilter",
    "arrayExists",
    "arrayAll",
    "arrayCount",
    "arraySum",
    "arrayAvg",
    "arrayMin",
    "arrayMax",
    "arraySort",
    "arrayReverseSort",
    "arrayDistinct",
    "arrayUniq",
    "arrayJoin",
    "arrayConcat",
    "arraySlice",
    "arrayPushBack",
    "arrayPushFront",
    "arrayEnumerate",
    "arrayEnumerateUniq",
    "arrayFirst",
    "arrayLast",
    "arrayZip",
    "arrayFlatten",
    "arrayCompact",
    "arrayReduce",
    "arrayCumSum",
    "arrayDifference",
    "arrayIntersect",
    "arrayResize",
    "arrayReverse",
    "arrayFold",
    "range",
    "emptyArrayString",
    "emptyArrayUInt64",
    "mapKeys",
    "mapValues",
    "mapContains",
    "mapContainsKey",
    "mapFilter",
    "mapApply",
    "untuple",
    "tupleNames",
    "flatten",
    "arrayPartialSort",
    "arraySplit",
    "groupArrayInsertAt",
    // window functions
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lagInFrame",
    "leadInFrame",
    "first_value",
    "last_value",
    "nth_value",
    "lag",
    "lead",
    // constants of the query, not of the server
    "rowNumberInAllBlocks",
    "rowNumberInBlock",
    "toColumnTypeName",
    "materialize",
    "ignore",
    "identity",
    "bar",
    "formatReadableSize",
    "formatReadableQuantity",
    "formatReadableTimeDelta",
    "runningDifference",
    "neighbor",
    "generateUUIDv4",
    "rand",
    "rand64",
    "randCanonical",
];

/// Aggregate functions; each may carry combinators (`countIf`, `uniqArrayIf`, `sumOrNull`).
const AGGREGATE: &[&str] = &[
    "count",
    "countDistinct",
    "sum",
    "sumWithOverflow",
    "avg",
    "avgWeighted",
    "min",
    "max",
    "any",
    "anyLast",
    "anyHeavy",
    "argMin",
    "argMax",
    "uniq",
    "uniqExact",
    "uniqCombined",
    "uniqCombined64",
    "uniqHLL12",
    "quantile",
    "quantiles",
    "quantileExact",
    "quantilesExact",
    "quantileTDigest",
    "quantilesTDigest",
    "quantileTiming",
    "median",
    "medianExact",
    "groupArray",
    "groupUniqArray",
    "groupArraySample",
    "groupArraySorted",
    "groupBitOr",
    "groupBitAnd",
    "groupBitXor",
    "groupConcat",
    "topK",
    "topKWeighted",
    "stddevPop",
    "stddevSamp",
    "varPop",
    "varSamp",
    "covarPop",
    "covarSamp",
    "corr",
    "entropy",
    "simpleLinearRegression",
    "histogram",
    "windowFunnel",
    "retention",
    "sequenceMatch",
    "sequenceCount",
    "first_value",
    "last_value",
    "any_value",
    "STDDEV",
    "singleValueOrNull",
    "boundingRatio",
    "deltaSum",
    "rankCorr",
    "kurtPop",
    "skewPop",
    "exponentialMovingAverage",
];

/// Aggregate combinator suffixes, stripped (repeatedly) to find the aggregate underneath.
const COMBINATORS: &[&str] = &[
    "If",
    "Array",
    "Distinct",
    "OrNull",
    "OrDefault",
    "Merge",
    "State",
    "ForEach",
    "Map",
    "SimpleState",
    "Resample",
    "ArgMin",
    "ArgMax",
];

/// Names the parser itself produces (`EXISTS (...)`, `x -> ...`, `COUNT(DISTINCT x)`,
/// `untuple`), resolved by the engine without being listed in `system.functions`.
pub const PARSER_ONLY: &[&str] = &["exists", "lambda", "countDistinct", "untuple"];

/// Whether an analyst's query may call `name`.
pub fn allowed(name: &str) -> bool {
    listed(SCALAR, name) || aggregate(name, 0)
}

fn listed(list: &[&str], name: &str) -> bool {
    list.iter()
        .any(|f| *f == name || f.eq_ignore_ascii_case(name) && is_case_insensitive(f))
}

/// ClickHouse registers a few functions case-insensitively (SQL-standard names); only those
/// match in another case.
fn is_case_insensitive(f: &str) -> bool {
    matches!(
        f.to_ascii_lowercase().as_str(),
        "count"
            | "sum"
            | "avg"
            | "min"
            | "max"
            | "abs"
            | "round"
            | "floor"
            | "ceil"
            | "ceiling"
            | "trunc"
            | "truncate"
            | "sqrt"
            | "exp"
            | "ln"
            | "log"
            | "pow"
            | "power"
            | "lower"
            | "upper"
            | "length"
            | "char_length"
            | "concat"
            | "substring"
            | "substr"
            | "trim"
            | "ltrim"
            | "rtrim"
            | "replace"
            | "reverse"
            | "left"
            | "right"
            | "lpad"
            | "rpad"
            | "coalesce"
            | "ifnull"
            | "nullif"
            | "greatest"
            | "least"
            | "if"
            | "now"
            | "today"
            | "date_trunc"
            | "date_diff"
            | "date_add"
            | "date_sub"
            | "locate"
            | "position"
            | "cast"
            | "stddev"
            | "variance"
            | "any_value"
            | "first_value"
            | "last_value"
            | "lag"
            | "lead"
            | "rank"
            | "dense_rank"
            | "row_number"
            | "percent_rank"
            | "cume_dist"
            | "ntile"
            | "nth_value"
            | "e"
            | "pi"
            | "sign"
            | "md5"
            | "sha256"
            | "rand"
            | "repeat"
            | "timestamp_add"
            | "timestamp_sub"
            | "dateadd"
            | "datesub"
            | "datediff"
            | "extract"
    )
}

fn aggregate(name: &str, depth: usize) -> bool {
    if listed(AGGREGATE, name) {
        return true;
    }
    depth < 4
        && COMBINATORS.iter().any(|c| {
            name.strip_suffix(c)
                .is_some_and(|base| !base.is_empty() && aggregate(base, depth + 1))
        })
}

/// Every name listed, for the test that checks them against the engine.
pub fn all_listed() -> impl Iterator<Item = &'static str> {
    SCALAR.iter().chain(AGGREGATE).copied()
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn analytics_functions_pass_and_dangerous_ones_do_not() {
        for f in [
            "count",
            "COUNT",
            "uniqIf",
            "countIf",
            "uniqExactArrayIf",
            "sumOrNull",
            "toDate",
            "arrayElement",
            "mapKeys",
            "domain",
            "quantilesTDigestIf",
        ] {
            assert!(allowed(f), "{f}");
        }
        for f in [
            "file",
            "FILE",
            "url",
            "dictGet",
            "joinGet",
            "getSetting",
            "hostName",
            "remote",
            "s3",
            "numbers",
            "merge",
            "cluster",
            "input",
            "executable",
            "currentUser",
            "filesystemAvailable",
            "hasColumnInTable",
            "getMacro",
            "sleep",
            "throwIf",
            "countFile",
            "",
            "toDATE",
        ] {
            assert!(!allowed(f), "{f}");
        }
    }
}
