//! Grouping the operations of the OpenAPI document by resource.

use utoipa_axum::router::OpenApiRouter;

/// `router` with every operation of its document tagged `tag` (its resource), so that OpenAPI
/// viewers group the operations as the code does.
pub fn tagged<S: Clone + Send + Sync + 'static>(
    mut router: OpenApiRouter<S>,
    tag: &str,
) -> OpenApiRouter<S> {
    for item in router.get_openapi_mut().paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            operation
                .tags
                .get_or_insert_with(Vec::new)
                .push(tag.to_owned());
        }
    }
    router
}
