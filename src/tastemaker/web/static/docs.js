// The API's documentation page: Swagger UI, served with the package (nothing from a CDN).
SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui" });
