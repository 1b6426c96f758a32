// A display equation wider than its column scrolls sideways (the theme's stylesheet), and a
// region that scrolls needs a way in from the keyboard (WCAG 2.1.1; axe:
// scrollable-region-focusable). The theme gives one to the code blocks, outputs and tables
// that scroll, on load and on resize; this does the same for display maths, once MathJax
// has typeset it and its fonts have loaded. (MathJax's context menu, which the book does not
// load, used to put every equation in the tab order.) Deferred: MathJax's startup.js has run.
(function () {
  function tabStops() {
    document.querySelectorAll('mjx-container[display="true"]').forEach(function (math) {
      math.tabIndex = math.scrollWidth > math.clientWidth ? 0 : -1;
    });
  }
  var mathjax = window.MathJax;
  if (!mathjax || !mathjax.startup || !mathjax.startup.promise) {
    return;
  }
  mathjax.startup.promise.then(function () { return document.fonts.ready; }).then(tabStops);
  var timer = null;
  window.addEventListener("resize", function () {
    clearTimeout(timer);
    timer = setTimeout(tabStops, 300);
  });
})();
