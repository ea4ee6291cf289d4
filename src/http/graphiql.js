// Starts GraphiQL against this gateway's own /graphql (and /graphql/ws for
// subscriptions). Served from the gateway's origin; no inline script.
(function () {
  var config = JSON.parse(document.getElementById('graphiql-config').textContent);
  var url = new URL('/graphql', window.location.href).toString();
  var fetcher = GraphiQL.createFetcher({
    url: url,
    subscriptionUrl: url.replace(/^http/, 'ws') + '/ws',
  });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: config.defaultQuery,
      defaultEditorToolsVisibility: true,
    }),
  );
})();
