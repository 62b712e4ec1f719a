// Swagger UI's start, a file of its own: the docs page's CSP allows no inline script.
window.ui = SwaggerUIBundle({
  url: "/api/v1/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  tryItOutEnabled: false,
  validatorUrl: null, // no badge from validator.swagger.io: nothing leaves this origin
});
