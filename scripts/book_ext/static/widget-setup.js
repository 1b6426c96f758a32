// Set-up for the Jupyter widget manager (embed-amd.js) on a page of the book.
// Loaded after require.js and before embed-amd.js, on pages with saved widget state.

// 1. Tell require.js where the widget manager lives, so that it finds its fonts.
//    embed-amd.js defines AMD modules named "@jupyter-widgets/...". Its webpack bundles
//    derive their public path (where their icon fonts are) from the URL require.js gives
//    those names, which by default is relative to the page: book/labs/@jupyter-widgets/...
//    Mapping the names to the folder embed-amd.js is served from makes the fonts load
//    from the book itself, on any page and under any base URL.
(function () {
  var manager = new URL("npm/html-manager", document.currentScript.src).href;
  require.config({
    paths: {
      "@jupyter-widgets/html-manager/dist": manager,
      "@jupyter-widgets": manager,
    },
  });
})();

// 2. Widgets typeset the LaTeX in their labels with MathJax 2's API,
//    MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]); the book loads MathJax 3.
//    MathJax is a deferred script, so it exists (unstarted) by DOMContentLoaded, and
//    this listener runs before the widget manager's, which is registered after it.
document.addEventListener("DOMContentLoaded", function () {
  var mathjax = window.MathJax;
  if (!mathjax || !mathjax.startup || mathjax.Hub) {
    return;
  }
  mathjax.Hub = {
    Queue: function (job) {
      var element = job && job[2];
      mathjax.startup.promise.then(function () {
        return mathjax.typesetPromise(element ? [element] : undefined);
      });
    },
  };
});
