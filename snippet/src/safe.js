// Runs f, swallowing anything it throws: the host page must never see our errors.
export const safe =
  (f) =>
  (...a) => {
    try {
      return f(...a)
    } catch (e) {}
  }
