// PostGraphile 5 calls Promise.withResolvers (Node 22+); Node 20 lacks it.
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve, reject;
    const promise = new this((yes, no) => ((resolve = yes), (reject = no)));
    return { promise, resolve, reject };
  };
}
