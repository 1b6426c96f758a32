// Work around a Sphinx 7.4 search bug that stops the search results page.
//
// searchtools.js shows each result with listItem.appendChild(makeSearchSummary(...)).
// makeSearchSummary returns null when the result's target element has no text, which
// is the case for every index entry (the {index} directive's target is an empty span),
// and appendChild(null) throws: the remaining results are never listed.
// An empty summary becomes an empty paragraph. Deferred, so searchtools.js has run.
(function () {
  if (typeof Search === "undefined" || !Search.makeSearchSummary) {
    return;
  }
  var makeSearchSummary = Search.makeSearchSummary;
  Search.makeSearchSummary = function () {
    return makeSearchSummary.apply(this, arguments) || document.createElement("p");
  };
})();
